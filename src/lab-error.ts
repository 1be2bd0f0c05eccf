// The lab tool's own failures (Docker, images, roles, challenges, settings,
// benchmarks), coded like the library's FdlabError so the CLI prints and
// branches on `code` the same way. The library's codes are a closed set
// (FdlabErrorCode in packages/fdlab); these are the tool's and stay open.
export class LabError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LabError';
    this.code = code;
  }
}
