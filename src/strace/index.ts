// Reading strace -f -tt -yy captures of fd passing (SCM_RIGHTS), for the labs
// to show which process sent which fd and which number it became elsewhere.
export { syscallLines, type SyscallLine } from './calls';
export { identify, parseTracedFd, type FdIdentity, type TracedFd, type TracedFdKind } from './decoration';
export { parseCapture, type FdPassingEvent } from './parse';
export { pairPassedFds, formatPair, describeTracedFd, type FdPair, type FdEnd, type PairBasis, type RoleCapture } from './annotate';
export { buildTimeline, type Timeline, type TimelineEvent, type Handover, type Lane, type CaptureFile } from './timeline';
export { timelineText } from './timeline-text';
export { timelineHtml } from './timeline-html';
export { readCaptures, writeTimeline, type WrittenTimeline } from './timeline-files';
export { decodeFrames, describeFrames, messageBytes, unescapeC } from './frame-bytes';
