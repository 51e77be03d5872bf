// Types of gen-error-codes.mjs for the TypeScript tests that import it.
export interface ErrorCodeEntry {
  code: string;
  surfacesAs: string;
  doc: string;
}
export function parseErrorCodes(text: string): ErrorCodeEntry[];
export function renderErrorCodes(entries: ErrorCodeEntry[]): string;
