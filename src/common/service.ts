/**
 * The lifecycle every long-running part follows (servers, pollers): `start` resolves once the part
 * is ready to serve, and the returned `done` settles after the signal aborts and the part has let go
 * of its sockets and timers. A rejected `done` is a fatal failure that stops the whole daemon.
 */
export interface Service {
  readonly name: string;
  start(signal: AbortSignal): Promise<Running>;
}

export interface Running {
  done: Promise<void>;
  /** What the part wants logged at readiness (addresses, ports, modes). */
  describe?: Record<string, unknown>;
}
