/**
 * Summarises V8 .cpuprofile files written by `npm run bench -- --cpu-prof DIR` (node --cpu-prof on the
 * Tributary subprocesses): self time by function and by file, largest first.
 *
 *   node dist-bench/cpuprofile.js DIR/file.cpuprofile [more files] [--top N]
 */
import { readFileSync } from 'node:fs';
import { relative, resolve } from 'node:path';
const ROOT = resolve(__dirname, '..');

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

function shortUrl(url: string): string {
  if (!url) return '(native)';
  const path = url.replace(/^file:\/\//, '');
  const nm = path.lastIndexOf('node_modules/');
  if (nm >= 0) return path.slice(nm + 'node_modules/'.length);
  return path.startsWith('/') ? relative(ROOT, path) : path;
}

function main(): void {
  const args = process.argv.slice(2);
  const topIndex = args.indexOf('--top');
  const top = topIndex >= 0 ? Number(args.splice(topIndex, 2)[1]) : 25;
  const byFunction = new Map<string, number>();
  const byFile = new Map<string, number>();
  let total = 0;
  let wall = 0;
  for (const file of args) {
    const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
    wall += (profile.endTime - profile.startTime) / 1000;
    const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
    profile.samples.forEach((id, i) => {
      const ms = (profile.timeDeltas[i] ?? 0) / 1000;
      const node = nodes.get(id)!;
      const { functionName, url, lineNumber } = node.callFrame;
      const name = `${functionName || '(anonymous)'} ${shortUrl(url)}:${lineNumber + 1}`;
      byFunction.set(name, (byFunction.get(name) ?? 0) + ms);
      const where = functionName === '(idle)' || functionName === '(program)' || functionName === '(garbage collector)' ? functionName : shortUrl(url).split('/').slice(0, url.includes('node_modules') ? 1 : 3).join('/');
      byFile.set(where, (byFile.get(where) ?? 0) + ms);
      total += ms;
    });
  }
  const show = (title: string, map: Map<string, number>): void => {
    process.stdout.write(`\n${title} (of ${total.toFixed(0)} ms sampled, ${wall.toFixed(0)} ms wall)\n`);
    for (const [name, ms] of [...map.entries()].sort((a, b) => b[1] - a[1]).slice(0, top)) {
      process.stdout.write(`${ms.toFixed(0).padStart(8)} ms ${((100 * ms) / total).toFixed(1).padStart(5)}%  ${name}\n`);
    }
  };
  show('self time by package / folder', byFile);
  show('self time by function', byFunction);
}

main();
