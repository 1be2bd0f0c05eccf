// Every lab, by number.
import type { LabDefinition } from '../src/labs/types';
import { lab1 } from './lab1/lab';
import { lab2 } from './lab2/lab';
import { lab3 } from './lab3/lab';

export const LABS: ReadonlyMap<number, LabDefinition> = new Map([
  [1, lab1],
  [2, lab2],
  [3, lab3],
]);
