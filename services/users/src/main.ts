import { buildUsersService } from './app.ts';

await buildUsersService().start();
