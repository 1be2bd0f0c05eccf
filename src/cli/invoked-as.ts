// How the learner ran fdlab, so the commands we print can be copied as they
// are: in a checkout `fdlab` is not on PATH, `npm run fdlab -- ...` is.
/** The command prefix that reaches this CLI the way it was just reached. */
export function invokedAs(env: NodeJS.ProcessEnv = process.env): string {
  if (env.npm_lifecycle_event === 'fdlab') return 'npm run fdlab --';
  if (env.npm_lifecycle_event === 'npx' || env.npm_command === 'exec') return 'npx fdlab';
  return 'fdlab';
}
