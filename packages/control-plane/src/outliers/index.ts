export { currentEjections } from './current-ejections.ts';
export { OutlierStore } from './outlier-store.ts';
