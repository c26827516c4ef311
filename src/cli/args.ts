/**
 * What every `sipfarm <command>` shares: strict option parsing that answers `--help`
 * and prints the usage on a bad option (exit 2), and the `--member-mac ID=MAC` list.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

export interface CliOutput {
  write(s: string): unknown;
}

type Options = NonNullable<ParseArgsConfig['options']>;
type Values<O extends Options> = ReturnType<typeof parseArgs<{ args: string[]; options: O; strict: true }>>['values'];

export interface Parsed<O extends Options> {
  values: Values<O>;
  /** Print `sipfarm <cmd>: msg` and the usage to stderr; returns exit code 2. */
  usage(msg: string): number;
}

/**
 * Parses `argv` for command `cmd` (a `help`/`-h` option is added). Returns the values, or
 * the exit code when parsing already answered: 0 after --help, 2 on a bad option.
 */
export function parseCommand<O extends Options>(cmd: string, argv: string[], options: O, usageText: string, out: CliOutput, err: CliOutput): Parsed<O> | number {
  const usage = (msg: string): number => {
    err.write(`sipfarm ${cmd}: ${msg}\n${usageText}`);
    return 2;
  };
  let values: Values<O>;
  try {
    ({ values } = parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, strict: true }) as { values: Values<O> });
  } catch (e) {
    return usage((e as Error).message);
  }
  if ((values as { help?: boolean }).help === true) {
    out.write(usageText);
    return 0;
  }
  return { values, usage };
}

/** `--member-mac ID=MAC` values → {id: mac}; a string names the first bad one. */
export function parseMemberMacs(list: readonly string[] | undefined): Record<number, string> | string {
  const macs: Record<number, string> = {};
  for (const mm of list ?? []) {
    const m = /^(\d{1,3})=(\S+)$/.exec(mm);
    if (!m) return `--member-mac '${mm}' must be ID=aa:bb:cc:dd:ee:ff`;
    macs[Number(m[1])] = m[2];
  }
  return macs;
}
