// FDLAB_HANDOVER_HOOK as `fdlab serve` reads it (src/cli/fault-hooks.ts): a
// typo or a hook that could never act is refused at start; 'old:serving'
// means a return to serving, not start-up; each hook acts once, on its side.
import { strict as assert } from 'node:assert';
import { faultHooks, parseHooks } from '../../src/cli/fault-hooks';
import { until } from '../helpers/fds';

describe('fdlab serve: fault hooks (FDLAB_HANDOVER_HOOK)', () => {
  it('parses side:state=action lists', () => {
    assert.deepEqual([...parseHooks('new:acked=stop, old:standby=kill,old:serving=usr2,new:receiving=block')], [
      ['new:acked', 'stop'],
      ['old:standby', 'kill'],
      ['old:serving', 'usr2'],
      ['new:receiving', 'block'],
    ]);
    assert.equal(parseHooks(undefined).size, 0);
  });

  for (const [spec, why] of [
    ['old:standby=pause', 'an unknown action'],
    ['new:standby=stop', "a state of the other side's table"],
    ['old:acked=kill', 'a new-side state on the old side'],
    ['old:standby=kill;new:acked=stop', 'a ; separator'],
    ['old:starting=stop', 'the state a server starts in (never entered)'],
    ['new:connecting=kill', 'the state a successor starts in (never entered)'],
  ]) {
    it(`refuses ${why}: ${spec}`, () => {
      assert.throws(() => parseHooks(spec), (error: Error & { code?: string }) => error.code === 'ERR_HANDOVER_HOOK' && error.message.includes('FDLAB_HANDOVER_HOOK'));
    });
  }

  it("acts once per hook, on its own side only, and not on the start-up 'serving'", async () => {
    const lines: string[] = [];
    let signals = 0;
    const absorb = () => signals++;
    process.on('SIGUSR2', absorb); // the usr2 action signals this very process
    try {
      const onState = faultHooks('old:serving=usr2,new:acked=usr2', 'old', (line) => lines.push(line));
      onState('old', 'serving'); // start-up: not a return to serving
      onState('new', 'acked'); // the other side's hook: not this process's
      assert.deepEqual(lines, []);
      onState('old', 'starting-successor');
      onState('old', 'rolled-back');
      onState('old', 'serving'); // back to serving after a rollback: acts
      onState('old', 'serving'); // once only
      assert.deepEqual(lines, ['hook: old:serving=usr2']);
      await until(5000, 'the SIGUSR2 burst reached this process', () => signals > 0);
    } finally {
      // Node reads the whole burst from its signal pipe at once; one more turn to be sure.
      await new Promise((resolve) => setImmediate(resolve));
      process.off('SIGUSR2', absorb);
    }
  });
});
