// Is a Docker engine there? One bounded ping, and an explanation when not.
import Docker from 'dockerode';

export interface EngineStatus {
  ok: boolean;
  /** "Docker 20.10.24 at /var/run/docker.sock", or why not. */
  detail: string;
}

function where(): string {
  return process.env.DOCKER_HOST ?? '/var/run/docker.sock';
}

export async function probeEngine(docker: Docker = new Docker(), timeoutMs = 3000): Promise<EngineStatus> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    const version = await Promise.race([docker.version(), timeout]);
    return { ok: true, detail: `Docker ${version.Version} at ${where()}` };
  } catch (error) {
    const message = (error as Error & { code?: string }).code ?? (error as Error).message;
    return { ok: false, detail: `no Docker engine answered at ${where()} (${message})` };
  } finally {
    clearTimeout(timer);
  }
}

export const ENGINE_FIX =
  'start one: `dockerd > /var/log/dockerd.log 2>&1 &` (install with `apt-get install -y docker.io`), ' +
  'or in the devcontainer mount the host socket (/var/run/docker.sock)';
