/**
 * Checks across entries (duplicate source ids and tables, two tables on one target, priority naming
 * unknown sources). They run on the document as written, so they are reported along with every other
 * problem rather than after those are fixed.
 */
import { isPlainMapping, type KeyPath, type Problem } from './problems';

export function crossChecks(document: Record<string, unknown>, isUnresolved: (path: KeyPath) => boolean): Problem[] {
  const problems: Problem[] = [];

  const sources = document.sources;
  if (Array.isArray(sources)) {
    const seen = new Map<string, { index: number; id: string }>();
    sources.forEach((source, index) => {
      const id = isPlainMapping(source) ? source.id : undefined;
      if (typeof id !== 'string' || id === '' || isUnresolved(['sources', index, 'id'])) return;
      const first = seen.get(id.toLowerCase());
      if (first === undefined) {
        seen.set(id.toLowerCase(), { index, id });
        return;
      }
      const caseNote = first.id === id ? '' : ` as ${JSON.stringify(first.id)} (ids are compared ignoring case)`;
      problems.push({
        path: ['sources', index, 'id'],
        message: `duplicate source id ${JSON.stringify(id)}: sources[${first.index}] already uses it${caseNote}; every source needs its own id`,
      });
    });
  }

  const tables = document.tables;
  if (Array.isArray(tables) && Array.isArray(sources)) {
    const ids = new Set(sources.map((source) => (isPlainMapping(source) ? source.id : undefined)).filter((id): id is string => typeof id === 'string'));
    tables.forEach((table, index) => {
      if (!isPlainMapping(table) || !Array.isArray(table.priority)) return;
      const unknown = table.priority.filter((id: unknown) => typeof id === 'string' && !ids.has(id));
      if (unknown.length > 0) problems.push({ path: ['tables', index, 'priority'], message: `names unknown source id(s) ${unknown.map((id) => JSON.stringify(id)).join(', ')}` });
    });
  }
  if (Array.isArray(tables)) {
    interface Entry {
      index: number;
      name: string;
      target: string;
      explicitTarget: boolean;
    }
    const entries: Entry[] = [];
    tables.forEach((table, index) => {
      const name = typeof table === 'string' ? table : isPlainMapping(table) ? table.name : undefined;
      if (typeof name !== 'string' || name === '') return;
      if (isUnresolved(typeof table === 'string' ? ['tables', index] : ['tables', index, 'name'])) return;
      const explicit = isPlainMapping(table) && table.target !== undefined;
      const target = explicit ? (table as Record<string, unknown>).target : name;
      if (typeof target !== 'string' || target === '' || (explicit && isUnresolved(['tables', index, 'target']))) return;
      entries.push({ index, name, target, explicitTarget: explicit });
    });

    const byName = new Map<string, Entry>();
    const duplicateNames = new Set<number>();
    for (const entry of entries) {
      const first = byName.get(entry.name);
      if (first === undefined) {
        byName.set(entry.name, entry);
        continue;
      }
      duplicateNames.add(entry.index);
      problems.push({
        path: typeof tables[entry.index] === 'string' ? ['tables', entry.index] : ['tables', entry.index, 'name'],
        message: `duplicate table ${JSON.stringify(entry.name)}: already listed as tables[${first.index}]`,
      });
    }

    const byTarget = new Map<string, Entry>();
    for (const entry of entries) {
      if (duplicateNames.has(entry.index)) continue;
      const first = byTarget.get(entry.target);
      if (first === undefined) {
        byTarget.set(entry.target, entry);
        continue;
      }
      const how = entry.explicitTarget ? '' : ' (the target defaults to the table name)';
      problems.push({
        path: entry.explicitTarget ? ['tables', entry.index, 'target'] : typeof tables[entry.index] === 'string' ? ['tables', entry.index] : ['tables', entry.index, 'name'],
        message: `tables ${JSON.stringify(first.name)} (tables[${first.index}]) and ${JSON.stringify(entry.name)} both map to target table ${JSON.stringify(entry.target)}${how}; each table needs its own target`,
      });
    }
  }

  return problems;
}
