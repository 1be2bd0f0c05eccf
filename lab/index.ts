// Every lab, by number.
import type { LabDefinition } from '../src/labs/types';
import { lab1 } from './lab1/lab';

export const LABS: ReadonlyMap<number, LabDefinition> = new Map([[1, lab1]]);
