import type { Challenge } from './types';
export const lab2Challenges: Challenge[] = [];
