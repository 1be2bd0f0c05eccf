// 'fdlab/supervisor': a process that stays the main one while workers hand
// over to each other (`fdlab run`); what pm2, systemd (Type=notify) and a
// container's PID 1 need. See docs/production.md.
export { Supervisor, supervise, type SuperviseOptions, type StopSignal } from './supervisor';
export { runSupervisor, type RunSupervisorOptions } from './run';
