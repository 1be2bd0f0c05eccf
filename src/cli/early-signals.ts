// Imported first by the command line: see guardUpgradeSignal. For `fdlab
// serve`, also first: its log lines are best-effort (bestEffortOutput).
import { bestEffortOutput, guardUpgradeSignal, writeLine } from 'fdlab';

// bestEffortOutput and writeLine are the library's (a server built on fdlab needs them as much).
export { bestEffortOutput, writeLine };

// `fdlab serve` (a successor runs the same command line): before anything can log.
if (process.argv[2] === 'serve') bestEffortOutput();

guardUpgradeSignal((line) => writeLine(process.stdout, `${new Date().toISOString().slice(11, 23)} [pid ${process.pid}] ${line}`));
