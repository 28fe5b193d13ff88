/** Structured logs: one JSON object per line on stderr; injectable so tests stay quiet. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type Logger = (level: LogLevel, msg: string, fields?: Record<string, unknown>) => void;

const order: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export function createLogger(min: LogLevel | 'silent' = 'info', write: (line: string) => void = (l) => process.stderr.write(l + '\n')): Logger {
  return (level, msg, fields) => {
    if (min === 'silent' || order[level] < order[min]) return;
    write(JSON.stringify({ t: new Date().toISOString(), level, msg, ...fields }));
  };
}
