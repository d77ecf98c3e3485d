// Putting rows into a table body: all anew, or patched in place. A live
// list whose events change one row at a time patches, so the browser
// styles and lays out that row and not the whole table.

/** Runs `change` on `tbody`; a link focused in it before has the focus
 * again after, if a link to the same place is still there. */
function keepingFocus(tbody, change) {
  const active = document.activeElement;
  const focused = active && tbody.contains(active) ? active.getAttribute("href") : null;
  change();
  if (focused == null || document.activeElement === active) return;
  const again = [...tbody.querySelectorAll("a")].find((a) => a.getAttribute("href") === focused);
  if (again) again.focus();
}

/** Replaces the rows of `tbody`, keeping focus on a link that survives. */
export function replaceRows(tbody, rows) {
  keepingFocus(tbody, () => tbody.replaceChildren(...rows));
}

/**
 * Makes `tbody` hold `rows`, in that order, moving as few nodes as it can:
 * a row that is already there stays the same node, `replaced` old rows
 * (old -> new) are swapped in place, rows gone are removed, and of those
 * kept, only the ones outside the longest run already in order are moved.
 */
export function patchRows(tbody, rows, replaced = new Map()) {
  keepingFocus(tbody, () => {
    for (const [old, row] of replaced) if (old.parentNode === tbody) old.replaceWith(row);
    const wanted = new Map(rows.map((row, i) => [row, i]));
    for (const row of [...tbody.children]) if (!wanted.has(row)) row.remove();
    const stay = longestIncreasing([...tbody.children].map((row) => wanted.get(row)));
    // From the end, so each row's next sibling is already in place.
    let next = null;
    for (let i = rows.length - 1; i >= 0; i--) {
      if (!stay.has(i)) tbody.insertBefore(rows[i], next);
      next = rows[i];
    }
  });
}

/** The values of a longest increasing subsequence of `xs` (distinct
 * numbers), found in O(n log n) by patience sorting. */
function longestIncreasing(xs) {
  const ends = []; // ends[k]: where in xs the least end of a run of k + 1 lies
  const before = []; // before[i]: the element preceding xs[i] in its run
  xs.forEach((x, i) => {
    let lo = 0;
    let hi = ends.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (xs[ends[mid]] < x) lo = mid + 1; else hi = mid;
    }
    before[i] = lo > 0 ? ends[lo - 1] : -1;
    ends[lo] = i;
  });
  const run = new Set();
  for (let i = ends.length ? ends[ends.length - 1] : -1; i >= 0; i = before[i]) run.add(xs[i]);
  return run;
}
