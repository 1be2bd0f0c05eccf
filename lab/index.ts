// Every lab, by number. The CLI loads this file at run time (src/labs/registry.ts)
// rather than importing it, so src/ does not depend on lab/.
import type { LabRegistry } from '../src/labs/types';
import { lab1 } from './lab1/lab';
import { lab2 } from './lab2/lab';
import { lab3 } from './lab3/lab';
import { lab4 } from './lab4/lab';
import { lab5 } from './lab5/lab';
import { lab6 } from './lab6/lab';
import { lab7 } from './lab7/lab';

export const LABS: LabRegistry['LABS'] = new Map([
  [1, lab1],
  [2, lab2],
  [3, lab3],
  [4, lab4],
  [5, lab5],
  [6, lab6],
  [7, lab7],
]);
