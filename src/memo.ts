/**
 * A function's results kept by key, for values asked for again and again (per unit, per pass) and
 * cheap enough to make again: past `kept` keys the whole store is dropped rather than tracked by age.
 */
export function boundedMemo<A, V>(kept: number, keyOf: (arg: A) => string, make: (arg: A) => V): (arg: A) => V {
  const known = new Map<string, V>();
  return (arg) => {
    const key = keyOf(arg);
    let value = known.get(key);
    if (value === undefined) {
      if (known.size >= kept) known.clear();
      value = make(arg);
      known.set(key, value);
    }
    return value;
  };
}
