// A lab's settings and faults, checked before anything starts: a typo in
// --fault or --set must be an error that lists what the lab accepts, not a
// normal run that looks like the variant asked for.
import { LabError } from '../lab-error';
import type { LabDefinition, LabOptions } from './types';

export interface ResolvedSettings {
  values: Record<string, number | string>;
  fault: string | undefined;
}

function accepted(lab: LabDefinition): string {
  const names = Object.entries(lab.settings ?? {}).map(([name, s]) =>
    s.choices ? `${name}=${s.choices.join('|')}` : `${name}=<${s.min ?? '-∞'}..${s.max ?? '∞'}> (default ${s.default})`,
  );
  return names.length ? names.join(', ') : 'none';
}

export function resolveSettings(lab: LabDefinition, options: LabOptions): ResolvedSettings {
  const declared = lab.settings ?? {};
  const values: Record<string, number | string> = Object.fromEntries(Object.entries(declared).map(([name, s]) => [name, s.default]));
  for (const [name, raw] of Object.entries(options.settings ?? {})) {
    const setting = declared[name];
    if (!setting) {
      throw new LabError('ERR_UNKNOWN_SETTING', `lab ${lab.number} has no setting '${name}'; it accepts: ${accepted(lab)}`);
    }
    if (setting.choices) {
      if (!setting.choices.includes(raw)) {
        throw new LabError('ERR_INVALID_SETTING', `lab ${lab.number}: ${name} must be one of ${setting.choices.join(', ')}; got '${raw}'`);
      }
      values[name] = raw;
      continue;
    }
    const value = Number(raw);
    if (raw.trim() === '' || !Number.isInteger(value) || value < (setting.min ?? -Infinity) || value > (setting.max ?? Infinity)) {
      throw new LabError(
        'ERR_INVALID_SETTING',
        `lab ${lab.number}: ${name} must be a whole number from ${setting.min} to ${setting.max} (${setting.description}); got '${raw}'`,
      );
    }
    values[name] = value;
  }
  const faults = lab.faults ?? {};
  if (options.fault !== undefined && !(options.fault in faults)) {
    const known = Object.entries(faults).map(([name, what]) => `${name} (${what})`);
    throw new LabError(
      'ERR_UNKNOWN_FAULT',
      `lab ${lab.number} has no fault '${options.fault}'; ${known.length ? `it has: ${known.join('; ')}` : 'it has none'}`,
    );
  }
  return { values, fault: options.fault };
}
