import type { Challenge } from './types';
export const lab3Challenges: Challenge[] = [];
