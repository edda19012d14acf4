export { runActor, type ActorContext, type ActorImpl, type WorkerBoot, type WorkerControl } from './worker-runtime.js';
export { spawnActor, connectPair, ActorHandle, type SpawnOptions, type ActorExit } from './spawn.js';
export { Supervisor, type ActorSpec, type Topology, type SupervisorOptions } from './supervisor.js';
export { startTestActor, type TestActor, type TestActorOptions, type Fakes } from './testkit.js';
export { linkRemote, transfer, DEFAULT_DEADLINE_MS, type Remote, type RemoteOptions, type RemoteLink } from './remote.js';
export { PortMux, type RawPort, type MuxStats } from './mux.js';
export { createLogger, formatLogLine, type Logger, type LogLevel } from './log.js';
export { errorInfo, installErrorTransfer } from './errors.js';
export { TickBatch, InFlight } from './batch.js';
