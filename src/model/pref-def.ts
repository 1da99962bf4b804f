// One pref's definition: its default, what it means, and the check of a new value (prefs.ts holds
// the table; ha-prefs.ts adds the HA pair's rows).

export interface PrefDef {
  default: string;
  description: string;
  /** An error message quoting the value, or undefined when valid. */
  check(value: string): string | undefined;
}
