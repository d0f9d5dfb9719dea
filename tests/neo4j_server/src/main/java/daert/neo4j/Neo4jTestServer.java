package daert.neo4j;

import static org.neo4j.configuration.connectors.BoltConnectorInternalSettings.connection_shutdown_wait_time;
import static org.neo4j.configuration.connectors.BoltConnectorInternalSettings.thread_pool_shutdown_wait_time;
import static org.neo4j.configuration.connectors.BoltConnectorInternalSettings.use_native_transport;

import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.configuration.connectors.BoltConnector.EncryptionLevel;
import org.neo4j.configuration.connectors.HttpConnector;
import org.neo4j.configuration.connectors.HttpsConnector;
import org.neo4j.configuration.helpers.SocketAddress;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;
import org.neo4j.io.ByteUnit;
import org.neo4j.logging.Level;
import org.neo4j.logging.log4j.Log4jLogProvider;

/**
 * Starts an in-process Neo4j (community) for tests.
 *
 * <p>Usage: {@code java -jar neo4j-test-server.jar PORT HOME_DIR PASSWORD}. Bolt listens on
 * 127.0.0.1:PORT, HTTP is off, authentication is on and user {@code neo4j} has PASSWORD. Prints
 * exactly one line {@code READY PORT} to stdout once Bolt accepts connections; everything else goes
 * to stderr. Stops cleanly on SIGTERM or when stdin is closed.
 */
public final class Neo4jTestServer {
    private static final String HOST = "127.0.0.1";
    private static final String SYSTEM_DB = "system";
    private static final Duration STOP_WAIT = Duration.ofSeconds(1);

    private Neo4jTestServer() {}

    public static void main(String[] args) throws Exception {
        if (args.length != 3) {
            System.err.println("usage: Neo4jTestServer PORT HOME_DIR PASSWORD");
            System.exit(2);
        }
        int port = Integer.parseInt(args[0]);
        Path home = Path.of(args[1]).toAbsolutePath();
        String password = args[2];
        Files.createDirectories(home);

        SocketAddress loopback = new SocketAddress(HOST);
        DatabaseManagementService dbms;
        try {
            dbms = new DatabaseManagementServiceBuilder(home)
                    .setConfig(GraphDatabaseSettings.default_listen_address, loopback)
                    .setConfig(GraphDatabaseSettings.default_advertised_address, loopback)
                    .setConfig(BoltConnector.enabled, true)
                    .setConfig(BoltConnector.listen_address, new SocketAddress(HOST, port))
                    .setConfig(BoltConnector.advertised_address, new SocketAddress(HOST, port))
                    .setConfig(BoltConnector.encryption_level, EncryptionLevel.DISABLED)
                    // NIO, not epoll: epoll binds with SO_REUSEPORT, so a clash would go unnoticed.
                    .setConfig(use_native_transport, false)
                    // Bolt otherwise waits 5 s per connector and 5 s for its threads when stopping.
                    .setConfig(connection_shutdown_wait_time, STOP_WAIT)
                    .setConfig(thread_pool_shutdown_wait_time, STOP_WAIT)
                    .setConfig(HttpConnector.enabled, false)
                    .setConfig(HttpsConnector.enabled, false)
                    .setConfig(GraphDatabaseSettings.auth_enabled, true)
                    // Small footprint: the test machine runs other servers too.
                    .setConfig(GraphDatabaseSettings.pagecache_memory, ByteUnit.mebiBytes(64))
                    .setConfig(GraphDatabaseSettings.preallocate_logical_logs, false)
                    // No usage reports to neo4j.com (the test machine is offline anyway).
                    .setConfig(GraphDatabaseSettings.udc_enabled, false)
                    // The user log (startup, shutdown, errors) goes to stderr; debug.log stays
                    // under HOME_DIR/logs.
                    .setUserLogProvider(new Log4jLogProvider(System.err, Level.INFO))
                    .build();
        } catch (RuntimeException e) {
            System.err.println("neo4j failed to start: " + e);
            e.printStackTrace(System.err);
            System.exit(1);
            return;
        }

        AtomicBoolean stopped = new AtomicBoolean(false);
        Runnable stop = () -> {
            if (stopped.compareAndSet(false, true)) {
                System.err.println("neo4j: shutting down");
                dbms.shutdown();
                System.err.println("neo4j: stopped");
            }
        };
        // SIGTERM / SIGINT run shutdown hooks; so does System.exit below.
        Runtime.getRuntime().addShutdownHook(new Thread(stop, "neo4j-shutdown"));

        try {
            setPassword(dbms, password);
            waitForBolt(port, 60_000);
        } catch (Exception e) {
            System.err.println("neo4j failed to become ready: " + e);
            e.printStackTrace(System.err);
            System.exit(1);
        }

        System.out.println("READY " + port);
        System.out.flush();

        // The parent holds our stdin; when it goes away (closed pipe or EOF), stop.
        drain(System.in);
        System.exit(0);
    }

    /** Sets user neo4j's password (no change required), whether the store is new or reused. */
    private static void setPassword(DatabaseManagementService dbms, String password) {
        // Embedded transactions run without a login, with full rights, so ALTER USER is allowed.
        dbms.database(SYSTEM_DB)
                .executeTransactionally(
                        "ALTER USER neo4j SET PLAINTEXT PASSWORD $password CHANGE NOT REQUIRED",
                        Map.of("password", password));
    }

    private static void waitForBolt(int port, long timeoutMillis)
            throws IOException, InterruptedException {
        long deadline = System.currentTimeMillis() + timeoutMillis;
        while (true) {
            try (Socket socket = new Socket()) {
                socket.connect(new InetSocketAddress(HOST, port), 1_000);
                return;
            } catch (IOException e) {
                if (System.currentTimeMillis() > deadline) {
                    throw e;
                }
                Thread.sleep(100);
            }
        }
    }

    private static void drain(InputStream in) {
        byte[] buffer = new byte[256];
        try {
            while (in.read(buffer) != -1) {
                // Ignore input; only its end matters.
            }
        } catch (IOException e) {
            // A broken stdin means the parent is gone: stop as for EOF.
        }
    }
}
