import { buildOrdersService } from './app.ts';

await buildOrdersService().start();
