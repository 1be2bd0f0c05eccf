// `fdlab images`: the offline lab image, with a spinner.
import Docker from 'dockerode';
import { Guide } from '../labs/guide';
import { ensureLabImage } from '../runtime/image/image-builder';

export async function runImages(options: { force: boolean }): Promise<number> {
  const image = await new Guide().spin('Lab image', (update) => ensureLabImage(new Docker(), { force: options.force, onProgress: update }));
  const size = `${(image.bytes / 1e6).toFixed(1)} MB`;
  console.log(image.built ? `built ${image.tag}: ${size} in ${image.seconds.toFixed(1)} s` : `${image.tag} is up to date (${size})`);
  return 0;
}
