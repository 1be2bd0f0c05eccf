// Reading strace -f -tt -yy captures of fd passing (SCM_RIGHTS), for the labs
// to show which process sent which fd and which number it became elsewhere.
export { syscallLines, type SyscallLine } from './calls';
export { identify, parseTracedFd, type FdIdentity, type TracedFd, type TracedFdKind } from './decoration';
export { parseCapture, type FdPassingEvent } from './parse';
export { pairPassedFds, formatPair, describeTracedFd, type FdPair, type FdEnd, type PairBasis, type RoleCapture } from './annotate';
export { buildTimeline, markKeyCalls, type Timeline, type TimelineEvent, type Handover, type Lane, type CaptureFile, type KeyCall, type RolePid, type FdOrigin } from './timeline';
export { FD_SOURCES, withFdSources } from './fd-sources';
export { fdStoryProblems } from './fd-story';
export { timelineText, timelineRows, type TextRow } from './timeline-text';
export { timelineHtml } from './timeline-html';
export { readCaptures, writeTimeline, textTimelines, type WrittenTimeline, type TimelinePart, type LabTimeline } from './timeline-files';
export { decodeFrames, describeFrames, messageBytes, unescapeC } from './frame-bytes';
