/** esbuild's `.py: 'text'` loader (esbuild.mjs) turns a Python file into its source text. */
declare module '*.py' {
  const source: string;
  export default source;
}
