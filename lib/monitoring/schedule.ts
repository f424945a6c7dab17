/**
 * How long a CronJob may go between two runs: the longest gap between consecutive times its schedule fires. The
 * backup-age alerts add the time a run may legitimately take to it, so a schedule the user wrote is the threshold,
 * whatever it is (hourly, "02:30 on weekdays", monthly).
 *
 * The schedule is read as the CronJob controller reads it (robfig/cron v3's standard parser, in UTC: the library
 * sets no `timeZone`): five fields or a macro; day-of-month and day-of-week are OR-ed unless one of them is `*`.
 * Only called on schedules GaleraBackup's validation accepted.
 */

const MACROS: Record<string, string> = {
  '@yearly': '0 0 1 1 *', '@annually': '0 0 1 1 *', '@monthly': '0 0 1 * *', '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *', '@midnight': '0 0 * * *', '@hourly': '0 * * * *',
};
const NAMES: Record<number, readonly string[]> = {
  3: ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'],
  4: ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'],
};
const BOUNDS: ReadonlyArray<[number, number]> = [[0, 59], [0, 23], [1, 31], [1, 12], [0, 6]];
const DAY_MS = 86_400_000;
/** Eight years from a leap year: every month length and weekday combination, Feb 29 twice. */
const SPAN_START = Date.UTC(2024, 0, 1);
const SPAN_DAYS = 8 * 366;

interface Field {
  readonly values: ReadonlySet<number>;
  /** `*` or `?` (robfig's star bit): day-of-month and day-of-week are then AND-ed. */
  readonly star: boolean;
}

/** The longest gap, in seconds, between consecutive runs; undefined when the schedule never fires. */
export function longestCronGapSeconds(schedule: string): number | undefined {
  const text = schedule.trim();
  const fields = (MACROS[text] ?? text).split(/\s+/).map((f, i) => parseField(f, i));
  const [minute, hour, dom, month, dow] = fields;
  const minutesOfDay = [...hour.values].sort((a, b) => a - b)
    .flatMap((h) => [...minute.values].sort((a, b) => a - b).map((m) => h * 60 + m));
  if (minutesOfDay.length === 0) return undefined;
  let longest = 0;
  for (let i = 1; i < minutesOfDay.length; i++) longest = Math.max(longest, minutesOfDay[i] - minutesOfDay[i - 1]);
  let previousDay: number | undefined;
  let days = 0;
  for (let d = 0; d < SPAN_DAYS; d++) {
    const date = new Date(SPAN_START + d * DAY_MS);
    const domMatch = dom.values.has(date.getUTCDate());
    const dowMatch = dow.values.has(date.getUTCDay());
    const dayMatches = dom.star || dow.star ? domMatch && dowMatch : domMatch || dowMatch;
    if (!month.values.has(date.getUTCMonth() + 1) || !dayMatches) continue;
    if (previousDay !== undefined) {
      longest = Math.max(longest, (d - previousDay) * 1440 + minutesOfDay[0] - minutesOfDay[minutesOfDay.length - 1]);
    }
    previousDay = d;
    days++;
  }
  // Fewer than two days in eight years: no interval to speak of (validation refuses it).
  return days < 2 ? undefined : longest * 60;
}

function parseField(field: string, index: number): Field {
  const [min, max] = BOUNDS[index];
  const values = new Set<number>();
  let star = false;
  const value = (text: string) => {
    const named = NAMES[index]?.indexOf(text.toLowerCase()) ?? -1;
    return named >= 0 ? named + (index === 3 ? 1 : 0) : Number(text);
  };
  for (const part of field.split(',')) {
    const [range, stepText] = part.split('/');
    const step = stepText === undefined ? 1 : Number(stepText);
    let low: number;
    let high: number;
    if (range === '*' || range === '?') {
      [low, high] = [min, max];
      if (step === 1) star = true;
    } else {
      const bounds = range.split('-').map(value);
      low = bounds[0];
      // `N/step` runs from N to the end of the range.
      high = bounds.length === 2 ? bounds[1] : stepText === undefined ? low : max;
    }
    for (let v = low; v <= high; v += step) values.add(v);
  }
  return { values, star };
}
