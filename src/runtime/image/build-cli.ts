#!/usr/bin/env node
// `npm run images`: build the offline lab image now rather than on the first
// lab run, so the first lab starts in a second. `--force` rebuilds anyway.
import Docker from 'dockerode';
import ora from 'ora';
import { ensureLabImage, LAB_IMAGE_LATEST } from './image-builder';

async function main(): Promise<void> {
  const spinner = ora('lab image: checking').start();
  try {
    const image = await ensureLabImage(new Docker(), {
      force: process.argv.includes('--force'),
      onProgress: (message) => { spinner.text = `lab image: ${message}`; },
    });
    const size = `${(image.bytes / 1e6).toFixed(1)} MB`;
    const time = `${image.seconds.toFixed(1)} s`;
    spinner.succeed(image.built
      ? `built ${image.tag} (= ${LAB_IMAGE_LATEST}), ${size} in ${time}`
      : `${image.tag} (= ${LAB_IMAGE_LATEST}) is up to date, ${size}, checked in ${time}`);
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    spinner.fail(`lab image: ${(error as Error).message}${typeof code === 'string' ? ` [${code}]` : ''}`);
    process.exitCode = 1;
  }
}

void main();
