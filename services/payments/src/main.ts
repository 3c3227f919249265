import { buildPaymentsService } from './app.ts';

await buildPaymentsService().start();
