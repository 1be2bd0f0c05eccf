// Placeholder until src/strace lands: counts SCM_RIGHTS lines per capture.
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface ScmReport {
  lines: string[];
  pairs: unknown[];
  countByRole: Record<string, number>;
}

export function scmRightsReport(_dir: string, files: string[]): ScmReport {
  const countByRole: Record<string, number> = {};
  const lines: string[] = [];
  for (const file of files) {
    const role = path.basename(file, '.strace');
    const hits = fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.includes('SCM_RIGHTS') && /sendmsg|recvmsg/.test(l));
    countByRole[role] = hits.length;
    lines.push(...hits.slice(0, 5).map((l) => `${role}: ${l}`));
  }
  return { lines, pairs: [], countByRole };
}
