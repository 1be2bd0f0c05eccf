import type { Challenge } from './types';
export const lab5Challenges: Challenge[] = [];
