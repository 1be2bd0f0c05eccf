// Every challenge, by lab. `fdlab challenge` lists them.
import { LabError } from '../lab-error';
import { lab1Challenges } from './lab1';
import { lab2Challenges } from './lab2';
import { lab3Challenges } from './lab3';
import { lab4Challenges } from './lab4';
import { lab5Challenges } from './lab5';
import { lab7Challenges } from './lab7';
import type { Challenge } from './types';
import type { Progress } from './workspace';

export const CHALLENGES: readonly Challenge[] = [...lab1Challenges, ...lab2Challenges, ...lab3Challenges, ...lab4Challenges, ...lab5Challenges, ...lab7Challenges];

/** The named task of `lab`; without a name, the lab's current one (the last set up), else its first. */
export function findChallenge(lab: number, id: string | undefined, progress: Progress): Challenge {
  const ofLab = CHALLENGES.filter((c) => c.lab === lab);
  if (ofLab.length === 0) {
    const labs = [...new Set(CHALLENGES.map((c) => c.lab))].join(', ');
    throw new LabError('ERR_NO_SUCH_CHALLENGE', `lab ${lab} has no challenges; labs with challenges: ${labs} (\`fdlab challenge\` lists them)`);
  }
  const wanted = id ?? progress.current[`lab${lab}`] ?? ofLab[0].id;
  const found = ofLab.find((c) => c.id === wanted);
  if (!found) {
    throw new LabError('ERR_NO_SUCH_CHALLENGE', `lab ${lab} has no challenge "${wanted}"; it has: ${ofLab.map((c) => c.id).join(', ')}`);
  }
  return found;
}
