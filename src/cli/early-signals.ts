// Imported first by the command line: see guardUpgradeSignal.
import { guardUpgradeSignal } from 'fdlab';

guardUpgradeSignal((line) => console.log(`${new Date().toISOString().slice(11, 23)} [pid ${process.pid}] ${line}`));
