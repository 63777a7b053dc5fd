import { parseArgs } from 'node:util';
import { runWorkload } from './workload.ts';

/** `pnpm soak -- --minutes N [--processes P] [--database-url postgres://...]` */
const { values } = parseArgs({
  args: process.argv.slice(2).filter((arg) => arg !== '--'),
  options: {
    minutes: { type: 'string', default: '5' },
    processes: { type: 'string' },
    clients: { type: 'string', default: '16' },
    'database-url': { type: 'string' },
  },
});
const databaseUrl = values['database-url'] ?? process.env.DATABASE_URL;
const report = await runWorkload({
  durationMs: Number(values.minutes) * 60_000,
  processes: Number(values.processes ?? (databaseUrl ? 3 : 1)),
  clients: Number(values.clients),
  killEveryMs: 5_000,
  databaseUrl,
  log: (line) => console.log(line),
});
console.log(JSON.stringify(report, null, 2));
console.log(
  `operations acknowledged ${report.operationsAcknowledged}, refused ${report.operationsRefused}, kills survived ${report.killsSurvived}, graceful stops ${report.gracefulStops}, violations: ${report.violations.length}`,
);
process.exit(report.violations.length === 0 ? 0 : 1);
