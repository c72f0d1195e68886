// A counter (a fixture of `codefill eval fim`).
package fixture;

import java.util.HashMap;
import java.util.Map;

public class Counter {
    private final Map<String, Integer> counts = new HashMap<>();

    /** Count one more of key. */
    public int add(String key) {
        int next = counts.getOrDefault(key, 0) + 1;
        counts.put(key, next);
        return next;
    }

    public int get(String key) {
        Integer value = counts.get(key);
        if (value == null) {
            return 0;
        }
        return value;
    }

    public String most() {
        String best = null;
        for (Map.Entry<String, Integer> e : counts.entrySet()) {
            if (best == null || e.getValue() > counts.get(best)) {
                best = e.getKey();
            }
        }
        return best;
    }
}
