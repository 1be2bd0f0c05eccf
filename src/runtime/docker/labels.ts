// Every Docker object fdlab creates carries the label key `fdlab`, so that
// `docker ps -a --filter label=fdlab` (and `fdlab clean`) find leftovers.
export const LABEL_KEY = 'fdlab';

export function labels(lab: string, run: string, role?: string): Record<string, string> {
  return { [LABEL_KEY]: lab, 'fdlab.run': run, ...(role ? { 'fdlab.role': role } : {}) };
}
