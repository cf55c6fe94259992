// What every page needs to know: who is signed in, the country and therapy
// area picked, the country file in force, and the person's rights there.
import { createContext } from 'preact';
import { useContext } from 'preact/hooks';

export const App = createContext(null);
export const useApp = () => useContext(App);
