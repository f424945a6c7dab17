import { SecretValue } from '../../lib/common/secret';
import { RabbitUser } from '../../lib/rabbitmq/model';

/** An administrator and one OpenStack service, with passwords in the Secret `rabbitmq-users` (key = user name). */
export function adminAndNova(): RabbitUser[] {
  return ['admin', 'nova'].map((name) => ({ name, administrator: name === 'admin', password: SecretValue.fromSecret('rabbitmq-users', name) }));
}
