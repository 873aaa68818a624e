import { TodoApp } from "@/components/TodoApp";

export default function HomePage() {
  return <TodoApp />;
}
