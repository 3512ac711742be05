/** A progress bar on stderr for long runs; on a non-terminal it prints one line per stage instead of redrawing. */
export class ProgressBar {
  private last = '';
  private readonly tty: boolean;
  constructor(
    private readonly out: NodeJS.WriteStream = process.stderr,
    private readonly width = 28,
  ) {
    this.tty = Boolean(out.isTTY);
  }

  update(fraction: number, label: string): void {
    const f = Math.min(1, Math.max(0, fraction));
    if (this.tty) {
      const filled = Math.round(f * this.width);
      this.out.write(`\r[${'█'.repeat(filled)}${'░'.repeat(this.width - filled)}] ${(f * 100).toFixed(0).padStart(3)}% ${label}`.padEnd(100).slice(0, 100));
    } else if (label !== this.last) {
      this.out.write(`… ${label}\n`);
    }
    this.last = label;
  }

  done(): void {
    if (this.tty) this.out.write('\r'.padEnd(101) + '\r');
  }
}
