import { buildNotificationsService } from './app.ts';

await buildNotificationsService().start();
