import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';
import { reconcile } from '../../packages/gateway/src/service/admin.ts';
import { openSqliteStore } from '../../packages/gateway/src/storage/sqlite.ts';

/** Runs the writer until it has acknowledged `killAfterAcks` commands, then SIGKILLs it. */
async function runAndKill(file: string, killAfterAcks: number): Promise<string[]> {
  const child = spawn(
    process.execPath,
    [
      '--experimental-strip-types',
      '--disable-warning=ExperimentalWarning',
      path.join(import.meta.dirname, 'fixtures/crash-writer.ts'),
      file,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const acks: string[] = [];
  await new Promise<void>((resolve) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (line.startsWith('ack ')) acks.push(line.slice(4));
      if (acks.length === killAfterAcks) child.kill('SIGKILL');
    });
    child.once('exit', () => resolve());
  });
  return acks;
}

describe('crash safety of the embedded store', () => {
  it('keeps every acknowledged command after SIGKILL mid-commit, exactly once, with balanced books', async () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'lockstep-crash-')), 'crash.sqlite');
    const acknowledged: string[] = [];
    for (const killAfter of [300, 777, 1500]) {
      acknowledged.push(...(await runAndKill(file, killAfter)));
    }
    const store = await openSqliteStore({ path: file });
    const journal = await store.read((reader) => reader.listJournal({ limit: 1_000_000 }));
    const ids = journal.map((entry) => entry.id);
    expect(new Set(ids).size).toBe(ids.length);
    const present = new Set(ids);
    const missing = acknowledged.filter((id) => !present.has(id));
    expect(missing).toEqual([]);
    expect(acknowledged.length).toBeGreaterThanOrEqual(300 + 777 + 1500);
    const books = await store.read(reconcile);
    expect(books.balanced).toBe(true);
    expect(books.negativeAccounts).toEqual([]);
    await store.close();
  }, 60_000);
});
