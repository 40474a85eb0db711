/**
 * Path filters: which suites a change runs, from the files it touches. Globs support `**` (any number of
 * directories), `*` (within one path segment) and `?`; a pattern without a wildcard also matches everything
 * under it as a directory (`capsules/extra/src/ieee802154` covers its files).
 */
export type PathFilter = { paths: string[]; suites: string[] };

const cache = new Map<string, RegExp>();

export function globToRegExp(glob: string): RegExp {
  const hit = cache.get(glob);
  if (hit) return hit;
  let src = "";
  const g = glob.replace(/^\/+/, "");
  for (let i = 0; i < g.length; i++) {
    const c = g[i]!;
    if (c === "*" && g[i + 1] === "*") {
      // `**/` matches zero or more whole directories; a trailing `**` matches the rest of the path.
      if (g[i + 2] === "/") {
        src += "(?:.*/)?";
        i += 2;
      } else {
        src += ".*";
        i += 1;
      }
    } else if (c === "*") src += "[^/]*";
    else if (c === "?") src += "[^/]";
    else src += c.replace(/[.+^${}()|[\]\\]/g, "\\$&");
  }
  const wildcard = /[*?]/.test(g);
  const re = new RegExp(`^${src}${wildcard ? "" : "(?:/.*)?"}$`);
  cache.set(glob, re);
  return re;
}

export const matchesAny = (file: string, globs: string[]) => globs.some((g) => globToRegExp(g).test(file));

/**
 * The suites to run for a change. `files` null means "unknown or too many to list": run the defaults. Without
 * filters every change runs the defaults; with filters a change runs the suites of the filters it matches (none
 * when it matches none: a docs-only change does not need the lab).
 */
export function selectSuites(options: { defaults: string[]; filters: PathFilter[]; files: string[] | null }): string[] {
  const { defaults, filters, files } = options;
  if (filters.length === 0 || files === null) return defaults;
  const selected = new Set<string>();
  for (const filter of filters) {
    if (files.some((f) => matchesAny(f, filter.paths))) for (const s of filter.suites) selected.add(s);
  }
  return [...selected];
}
