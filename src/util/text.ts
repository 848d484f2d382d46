/** At most `max` items joined, then "and N more": no error message grows with its input. */
export function boundedList(items: readonly string[], max = 10): string {
  return items.length <= max ? items.join('; ') : `${items.slice(0, max).join('; ')}; and ${items.length - max} more`;
}
