// The hot-upgrade engine: hand a live TCP server (listener, connections and
// their state) to a new version, with a commit, a standby and rollback.
// docs/handover.md has the protocol's state tables.
export { Upgrader, HEARTBEAT_MS, type UpgraderOptions, type UpgradeResult } from './upgrader';
export { externalSuccessor, type StartSuccessor, type Successor, type SuccessorRequest } from './successor';
export { guardUpgradeSignal } from './signal-guard';
export { OLD_STATES, NEW_STATES, type OldState, type NewState, type OnState } from './states';
export type { HandOffResult, Timings } from './hand-off';
export type { HandoverApp, ServedConnection, Log } from './types';
export { markBusy, markIdle, isBusy } from './busy';
