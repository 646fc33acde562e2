/** One line of the bench's table and one JSON line of its output. */
export interface BenchFigure {
  readonly bench: string;
  readonly value: number;
  readonly unit: string;
  readonly note: string;
}
