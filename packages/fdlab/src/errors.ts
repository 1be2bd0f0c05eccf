// fdlab's own failures carry a `code`, like Node's system errors, so callers
// can branch on err.code whether the kernel or fdlab refused.
export class FdlabError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'FdlabError';
    this.code = code;
  }
}

export function isErrorWithCode(error: unknown, code?: string): error is Error & { code: string } {
  return error instanceof Error && typeof (error as { code?: unknown }).code === 'string' &&
    (code === undefined || (error as unknown as { code: string }).code === code);
}
