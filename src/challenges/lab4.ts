import type { Challenge } from './types';
export const lab4Challenges: Challenge[] = [];
