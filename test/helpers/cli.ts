/** Runs the built `tributary` command as a user would, as a subprocess. */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export const CLI = join(__dirname, '..', '..', 'dist', 'cli', 'main.js');

export interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliRun> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` (make test does) before the CLI tests`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** Starts the command and leaves it running; the caller stops it. */
export function startCli(args: string[], env: NodeJS.ProcessEnv = {}): { child: import('node:child_process').ChildProcess; output: () => string; exited: Promise<CliRun> } {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`);
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<CliRun>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
  return { child, output: () => stdout + stderr, exited };
}

/** Polls check() until it returns true or the attempts run out (no timing assertion: just a bound). */
export async function eventually(check: () => Promise<boolean>, attempts = 100, pauseMs = 200): Promise<boolean> {
  for (let i = 0; i < attempts; i++) {
    // A check may fail until the thing it looks at exists (e.g. the target table).
    if (await check().catch(() => false)) return true;
    await new Promise((r) => setTimeout(r, pauseMs));
  }
  return false;
}
